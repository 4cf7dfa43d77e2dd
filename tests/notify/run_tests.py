#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""notify integration tests: real receivers on 127.0.0.1, ephemeral ports.

  run_tests.py --driver PATH --source DIR --case NAME

Each case starts what it needs (sinks.py: SMTP server, SNS HTTP endpoint),
runs notify-test-driver against them and checks what arrived. Every wait is
bounded; every process started is stopped by its pid.
"""
import argparse
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sinks  # noqa: E402  (the signature verifier)

A = None
TMP = None
PROCS = []


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("ok:", what)


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise Fail("timed out after %ss waiting for %s" % (timeout, what))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_sink(kind, name, *args, port=0):
    pf = os.path.join(TMP, name + ".port")
    if os.path.exists(pf):
        os.unlink(pf)
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "sinks.py"), kind, "--port",
                          str(port), "--port-file", pf] + list(args))
    PROCS.append(p)
    wait_for(lambda: os.path.exists(pf) or p.poll() is not None, 15, name + " to listen")
    if p.poll() is not None:
        raise Fail("%s exited with %s" % (name, p.returncode))
    with open(pf) as f:
        return p, int(f.read())


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def driver_cmd(db, template, params=(), extra=()):
    cmd = [A.driver, "--db", db, "--template", template, "--stack-name", "integration"]
    for k, v in params:
        cmd += ["--param", "%s=%s" % (k, v)]
    return cmd + list(extra)


def run_driver(db, template, params=(), extra=(), env=None, timeout=90, expect_rc=0):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(driver_cmd(db, template, params, extra), capture_output=True, text=True,
                       env=e, timeout=timeout)
    if expect_rc is not None and r.returncode != expect_rc:
        print(r.stdout)
        print(r.stderr, file=sys.stderr)
        raise Fail("driver exited with %d (wanted %d)" % (r.returncode, expect_rc))
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")], r


def read_ndjson(path):
    """The complete JSON lines of a file another process is still writing."""
    out = []
    with open(path) as f:
        for l in f:
            if l.startswith("{") and l.endswith("\n"):
                out.append(json.loads(l))
    return out


def of_type(lines, t):
    return [l for l in lines if l["type"] == t]


def mails(d):
    out = []
    if not os.path.isdir(d):
        return out
    for f in sorted(os.listdir(d)):
        if f.endswith(".json"):
            with open(os.path.join(d, f)) as fh:
                rec = json.load(fh)
            rec["msg"] = email.message_from_string(rec["data"], policy=email.policy.default)
            out.append(rec)
    return out


def body_of(rec):
    return rec["msg"].get_content().replace("\r\n", "\n")


def http_log(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip() and l.endswith("\n")]


def make_cert(name):
    key = os.path.join(TMP, name + ".key")
    crt = os.path.join(TMP, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return crt, key


TEMPLATE = os.path.join(HERE, "templates", "integration.yaml")

# ---- cases ------------------------------------------------------------------


def case_email():
    """The lab's alarm e-mail: subject, recipient, AWS fields, context block;
    the same transition enqueued again is not sent again."""
    smtp, port = start_sink("smtp", "smtp", "--out", os.path.join(TMP, "mail"))
    lab = os.path.join(A.source, "examples", "lab")
    db = os.path.join(TMP, "db.sqlite")
    env = {"KEYSENTRY_SMTP_URL": "smtp://127.0.0.1:%d" % port}
    trail = os.path.join(lab, "trail-kms-failures.ndjson")
    lines, _ = run_driver(db, os.path.join(lab, "monitoring.yaml"),
                          [("EmailAddress", "secops@example.org")],
                          ["--stack-name", "monitoring", "--lab", trail], env=env)
    enq = of_type(lines, "enqueued")
    check(len(enq) == 1 and enq[0]["new"] == "ALARM" and enq[0]["rows"] == 1,
          "the lab enqueues one e-mail for the ALARM transition")
    check(of_type(lines, "drain")[0]["drained"], "the outbox drains")
    m = wait_for(lambda: mails(os.path.join(TMP, "mail")), 10, "the e-mail")
    check(len(m) == 1, "exactly one e-mail arrives")
    rec = m[0]
    check(rec["rcpt_tos"] == ["secops@example.org"], "recipient is the template's EmailAddress")
    check(rec["msg"]["Subject"] ==
          'ALARM: "monitoring-KMSSecurityAlarm" in US East (N. Virginia)', "subject as AWS's")
    check(rec["msg"]["From"].addresses[0].display_name == "KMS security alarm",
          "From shows the topic's DisplayName")
    b = body_of(rec)
    for line in [
        'You are receiving this email because your Amazon CloudWatch Alarm '
        '"monitoring-KMSSecurityAlarm" in the US East (N. Virginia) region has entered the ALARM '
        'state, because "Threshold Crossed: 1 datapoint [2.0 (26/11/26 10:02:00)] was greater '
        'than the threshold (1.0)." at "Thursday 26 November, 2026 10:02:10 UTC".',
        "- Name:                       monitoring-KMSSecurityAlarm",
        "- Description:                KMS errors caused by the application's ECS task role",
        "- State Change:               INSUFFICIENT_DATA -> ALARM",
        "- Reason for State Change:    Threshold Crossed: 1 datapoint [2.0 (26/11/26 10:02:00)] "
        "was greater than the threshold (1.0).",
        "- Timestamp:                  Thursday 26 November, 2026 10:02:10 UTC",
        "- AWS Account:                111122223333",
        "- Alarm Arn:                  arn:aws:cloudwatch:us-east-1:111122223333:alarm:"
        "monitoring-KMSSecurityAlarm",
        "- The alarm is in the ALARM state when the metric is GreaterThanThreshold 1.0 for at "
        "least 1 of the last 1 period(s) of 10 seconds.",
        "- MetricNamespace:                     Pattern1Application/KMSSecurity",
        "- MetricName:                          KMSSecurityError",
        "- TreatMissingData:                    ignore",
        "- ALARM: [arn:aws:sns:us-east-1:111122223333:monitoring-KMSAlarmTopic]",
    ]:
        check(line in b.splitlines(), "body line: " + line[:70])
    ctx = b[b.index("Keysentry Context:"):]
    check("- Matching Events:            2" in ctx, "context: 2 matching events in the window")
    check("- Top Principals:             arn:aws:iam::111122223333:role/App-ECSTaskRole (2)"
          in ctx, "context: the culprit role is named")
    check("arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321 (2)" in ctx,
          "context: the key is named")
    check("- Top Source IPs:             10.0.12.34 (2)" in ctx, "context: source IP")
    check("- Top Error Codes:            IncorrectKeyException (2)" in ctx, "context: error code")
    check("eventID:          00005eed-0000-0000-0000-000000000090" in ctx and
          "eventID:          00005eed-0000-0000-0000-00000000008e" in ctx,
          "context: the recent events' IDs")
    check(re.search(r"origin: +\S*trail-kms-failures\.ndjson:\d+", ctx) is not None,
          "context: origin file and offset")
    check(ctx.index("000000000090") < ctx.index("00000000008e"), "recent events newest first")
    check(b.index("Keysentry Context:") < b.index("\n--\nIf you wish to stop receiving"),
          "context block before SNS's footer")
    mid = rec["msg"]["X-Keysentry-Message-Id"]
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", mid)
          is not None, "a UUID MessageId")
    # the same replay again (e.g. after a crash before the checkpoint): nothing new
    lines, _ = run_driver(db, os.path.join(lab, "monitoring.yaml"),
                          [("EmailAddress", "secops@example.org")],
                          ["--stack-name", "monitoring", "--lab", trail], env=env)
    enq = of_type(lines, "enqueued")
    check(enq[0]["rows"] == 0 and enq[0]["duplicates"] == 1,
          "re-enqueueing the same transition writes nothing (stable MessageId)")
    time.sleep(0.3)
    check(len(mails(os.path.join(TMP, "mail"))) == 1, "and sends nothing")
    stop(smtp)


def case_email_tls():
    """STARTTLS (required) and implicit TLS (smtps) with a CA file."""
    crt, key = make_cert("smtp")
    smtp, port = start_sink("smtp", "smtp", "--out", os.path.join(TMP, "m1"), "--starttls", crt,
                            key, "--require-tls")
    db = os.path.join(TMP, "db1.sqlite")
    params = [("Email", "ops@example.org"), ("SmtpUrl", "smtp://127.0.0.1:%d" % port),
              ("SmtpCaFile", crt), ("SmtpStartTls", "Required")]
    lines, _ = run_driver(db, TEMPLATE, params, ["--fire", "integration-test-alarm"])
    m = mails(os.path.join(TMP, "m1"))
    check(len(m) == 1 and m[0]["tls"], "STARTTLS: delivered over TLS")
    stop(smtp)
    smtps, port2 = start_sink("smtp", "smtps", "--out", os.path.join(TMP, "m2"), "--tls", crt, key)
    params = [("Email", "ops@example.org"), ("SmtpUrl", "smtps://127.0.0.1:%d" % port2),
              ("SmtpCaFile", crt)]
    lines, _ = run_driver(os.path.join(TMP, "db2.sqlite"), TEMPLATE, params,
                          ["--fire", "integration-test-alarm"])
    m = mails(os.path.join(TMP, "m2"))
    check(len(m) == 1 and m[0]["tls"], "implicit TLS (smtps://): delivered")
    # a server whose certificate we cannot verify: retried, never sent in clear
    lines, _ = run_driver(os.path.join(TMP, "db3.sqlite"), TEMPLATE,
                          [("Email", "ops@example.org"),
                           ("SmtpUrl", "smtps://127.0.0.1:%d" % port2), ("MaxAttempts", "2")],
                          ["--fire", "integration-test-alarm"])
    dead = [o for o in of_type(lines, "outcome") if o["kind"] == "dead"]
    check(len(dead) == 1 and "SMTP" in dead[0]["error"],
          "unverifiable certificate: dead-lettered after the policy, with the reason")
    check(len(mails(os.path.join(TMP, "m2"))) == 1, "and nothing was sent")
    # the environment overrides the template's server
    lines, _ = run_driver(os.path.join(TMP, "db4.sqlite"), TEMPLATE,
                          [("Email", "ops@example.org"), ("SmtpUrl", "smtp://127.0.0.1:1"),
                           ("SmtpCaFile", crt)],
                          ["--fire", "integration-test-alarm"],
                          env={"KEYSENTRY_SMTP_URL": "smtps://127.0.0.1:%d" % port2})
    check(len(mails(os.path.join(TMP, "m2"))) == 2, "KEYSENTRY_SMTP_URL overrides Keysentry::Smtp")
    stop(smtps)


def case_email_auth():
    """AUTH with the password from the environment; never stored or printed."""
    secret = "s3cret-%d" % os.getpid()
    smtp, port = start_sink("smtp", "smtp", "--out", os.path.join(TMP, "mail"), "--auth",
                            "alice:" + secret)
    db = os.path.join(TMP, "db.sqlite")
    params = [("Email", "ops@example.org"), ("SmtpUrl", "smtp://127.0.0.1:%d" % port),
              ("SmtpUser", "alice")]
    lines, r = run_driver(db, TEMPLATE, params, ["--fire", "integration-test-alarm"],
                          env={"KS_TEST_SMTP_PASSWORD": secret})
    m = mails(os.path.join(TMP, "mail"))
    check(len(m) == 1 and m[0]["auth"] == "alice", "authenticated as alice")
    blob = b""
    for f in os.listdir(TMP):
        if f.startswith("db.sqlite"):
            with open(os.path.join(TMP, f), "rb") as fh:
                blob += fh.read()
    check(secret.encode() not in blob, "the password is not in the database")
    check(secret not in r.stdout + r.stderr, "nor in the output")
    lines, r = run_driver(os.path.join(TMP, "db2.sqlite"), TEMPLATE, params,
                          ["--fire", "integration-test-alarm"],
                          env={"KS_TEST_SMTP_PASSWORD": "wrong"})
    dead = [o for o in of_type(lines, "outcome") if o["kind"] == "dead"]
    check(len(dead) == 1 and dead[0]["attempt"] == 1,
          "a rejected password (535) is a permanent failure: no retry")
    check("wrong" not in r.stdout + r.stderr, "the wrong password is not printed either")
    stop(smtp)


def case_email_json():
    """email-json: the signed SNS envelope as the mail body."""
    smtp, port = start_sink("smtp", "smtp", "--out", os.path.join(TMP, "mail"))
    cert = os.path.join(TMP, "cert.pem")
    params = [("EmailJson", "robot@example.org"), ("SmtpUrl", "smtp://127.0.0.1:%d" % port)]
    run_driver(os.path.join(TMP, "db.sqlite"), TEMPLATE, params,
               ["--fire", "integration-test-alarm", "--cert-out", cert])
    m = mails(os.path.join(TMP, "mail"))
    check(len(m) == 1, "one e-mail")
    env = json.loads(body_of(m[0]))
    check(env["Type"] == "Notification" and env["SignatureVersion"] == "2", "an SNS envelope")
    doc = json.loads(env["Message"])
    check(doc["AlarmName"] == "integration-test-alarm" and doc["NewStateValue"] == "ALARM",
          "Message is the alarm JSON")
    check("keysentryContext" in doc and doc["keysentryContext"]["matchingEvents"] == 3,
          "with keysentryContext")
    v = sinks.Verifier(None)
    v.keys[env["SigningCertURL"]] = None
    pub = os.path.join(TMP, "pub.pem")
    subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout", "-out", pub], check=True)
    v.keys[env["SigningCertURL"]] = pub
    check(v.verify(env), "the signature verifies with keysentry's certificate")
    env["Message"] = env["Message"].replace("ALARM", "OK", 1)
    check(not v.verify(env), "and fails when the message is altered")
    stop(smtp)


def start_http_pair(extra=()):
    log = os.path.join(TMP, "http.log")
    return start_sink("http", "http", "--out", log, *extra), log


def case_http_confirm():
    """http subscription: SubscriptionConfirmation, confirmed through keysentry's
    endpoint; notifications signed, with SNS's headers."""
    (http, hport), log = start_http_pair()
    db = os.path.join(TMP, "db.sqlite")
    pf = os.path.join(TMP, "driver.port")
    url = "http://127.0.0.1:%d/sns" % hport
    lines, _ = run_driver(db, TEMPLATE, [("HttpUrl", url)],
                          ["--serve", "--port-file", pf, "--wait-confirmed", "20000", "--fire",
                           "integration-test-alarm", "--count", "2"])
    check(len(of_type(lines, "confirmed")) == 1, "the subscription was confirmed")
    with open(pf) as f:
        dport = int(f.read())
    recs = http_log(log)
    conf = [r for r in recs if r["headers"].get("x-amz-sns-message-type") ==
            "SubscriptionConfirmation"]
    check(len(conf) == 1, "one SubscriptionConfirmation")
    c = conf[0]
    cb = json.loads(c["body"])
    check(c["verified"] is True, "its signature verifies")
    check("x-amz-sns-subscription-arn" not in c["headers"],
          "no subscription ARN header on a confirmation")
    check(cb["SubscribeURL"].startswith("http://127.0.0.1:%d/?Action=ConfirmSubscription" % dport),
          "SubscribeURL points at keysentry")
    check(c.get("confirm_status") == 200 and "<SubscriptionArn>arn:aws:sns:" in c["confirm_body"],
          "GET SubscribeURL answers ConfirmSubscriptionResponse")
    notes = [r for r in recs if r["headers"].get("x-amz-sns-message-type") == "Notification"]
    check(len(notes) == 2, "two notifications (ALARM, then OK)")
    for n in notes:
        b = json.loads(n["body"])
        h = n["headers"]
        check(n["verified"] is True, "notification signature verifies (%s)" % b["MessageId"])
        check(h["x-amz-sns-message-id"] == b["MessageId"], "x-amz-sns-message-id = MessageId")
        check(h["x-amz-sns-topic-arn"] == b["TopicArn"] ==
              "arn:aws:sns:us-east-1:111122223333:integration-alerts", "topic ARN header")
        check(h["x-amz-sns-subscription-arn"].startswith(b["TopicArn"] + ":"),
              "subscription ARN header")
        check(h["content-type"] == "text/plain; charset=UTF-8", "SNS's content type")
        check(h["user-agent"] == "Amazon Simple Notification Service Agent", "SNS's user agent")
        check(b["SigningCertURL"].startswith("http://127.0.0.1:%d/" % dport),
              "SigningCertURL served by keysentry")
        check(b["UnsubscribeURL"].startswith("http://127.0.0.1:%d/?Action=Unsubscribe&" % dport),
              "UnsubscribeURL")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", b["Timestamp"]) is not None,
              "Timestamp format")
        doc = json.loads(b["Message"])
        check(b["Subject"] == '%s: "integration-test-alarm" in US East (N. Virginia)' %
              doc["NewStateValue"], "Subject")
        check(list(doc)[:13] == ["AlarmName", "AlarmDescription", "AWSAccountId",
                                 "AlarmConfigurationUpdatedTimestamp", "NewStateValue",
                                 "NewStateReason", "StateChangeTime", "Region", "AlarmArn",
                                 "OldStateValue", "OKActions", "AlarmActions",
                                 "InsufficientDataActions"], "AWS's field order")
    check([json.loads(json.loads(n["body"])["Message"])["NewStateValue"] for n in notes] ==
          ["ALARM", "OK"], "in transition order")
    # a second run: the subscription stays confirmed (no new confirmation)
    run_driver(db, TEMPLATE, [("HttpUrl", url)],
               ["--serve", "--wait-confirmed", "5000", "--fire", "integration-test-alarm"])
    recs = http_log(log)
    check(len([r for r in recs if r["headers"].get("x-amz-sns-message-type") ==
               "SubscriptionConfirmation"]) == 1, "confirmation is remembered across restarts")
    stop(http)


def delivered_once(recs, ids):
    ok = {}
    for r in recs:
        if r["headers"].get("x-amz-sns-message-type") == "Notification" and r["status"] == 200:
            mid = r["headers"]["x-amz-sns-message-id"]
            ok[mid] = ok.get(mid, 0) + 1
    return all(ok.get(i) == 1 for i in ids) and set(ok) == set(ids), ok


def case_http_faults():
    """The receiver is down for a while, then answers 503 with Retry-After, then
    is fine: every notification arrives exactly once per MessageId. A 400 is a
    permanent failure."""
    log = os.path.join(TMP, "http.log")
    http, hport = start_sink("http", "http", "--out", log)
    db = os.path.join(TMP, "db.sqlite")
    url = "http://127.0.0.1:%d/sns" % hport
    run_driver(db, TEMPLATE, [("HttpUrl", url)], ["--serve", "--wait-confirmed", "20000"])
    stop(http)  # down
    out = open(os.path.join(TMP, "driver.out"), "w")
    d = subprocess.Popen(driver_cmd(db, TEMPLATE, [("HttpUrl", url)],
                                    ["--serve", "--fire", "integration-test-alarm", "--count", "8",
                                     "--drain", "60000"]), stdout=out, stderr=subprocess.STDOUT)
    PROCS.append(d)

    def driver_lines():
        return read_ndjson(os.path.join(TMP, "driver.out"))
    wait_for(lambda: len([o for o in of_type(driver_lines(), "outcome")
                          if o["kind"] == "retry"]) >= 8, 30, "failed attempts while down")
    time.sleep(0.5)
    http, _ = start_sink("http", "http", "--out", log, "--fail-first", "3", "--status", "503",
                         "--retry-after", "1", port=hport)
    t_up = time.monotonic()
    rc = d.wait(90)
    out.close()
    lines = driver_lines()
    check(rc == 0 and of_type(lines, "drain")[0]["drained"], "the outbox drained")
    ids = [o["messageId"] for o in of_type(lines, "outcome") if o["kind"] == "delivered"]
    check(len(ids) == 8 and len(set(ids)) == 8, "8 transitions delivered")
    once, counts = delivered_once(http_log(log), ids)
    check(once, "each MessageId accepted exactly once: %s" % sorted(counts.values()))
    fails = [r for r in http_log(log) if r["status"] == 503]
    check(len(fails) == 3, "the receiver answered 503 three times")
    check(time.monotonic() - t_up >= 1.0, "Retry-After: 1 was honoured")
    check(all(r["verified"] for r in http_log(log) if r["status"] == 200), "all signed")
    stop(http)
    # 400: permanent, not retried
    http, _ = start_sink("http", "http", "--out", log, "--fail-first", "1", "--status", "400",
                         port=hport)
    before = len(http_log(log))
    lines, _ = run_driver(db, TEMPLATE, [("HttpUrl", url)],
                          ["--serve", "--fire", "integration-test-alarm"])
    dead = [o for o in of_type(lines, "outcome") if o["kind"] == "dead"]
    check(len(dead) == 1 and dead[0]["attempt"] == 1 and "HTTP 400" in dead[0]["error"],
          "HTTP 400 dead-letters at once")
    check(len(http_log(log)) - before == 1, "and is not retried")
    stop(http)


def case_kill9():
    """kill -9 with deliveries pending; the restart delivers them all."""
    port = free_port()  # nothing listens there yet
    mdir = os.path.join(TMP, "mail")
    db = os.path.join(TMP, "db.sqlite")
    params = [("Email", "ops@example.org"), ("SmtpUrl", "smtp://127.0.0.1:%d" % port)]
    outp = os.path.join(TMP, "driver.out")
    out = open(outp, "w")
    d = subprocess.Popen(driver_cmd(db, TEMPLATE, params,
                                    ["--fire", "integration-test-alarm", "--count", "6",
                                     "--drain", "0", "--hold", "60000"]),
                         stdout=out, stderr=subprocess.STDOUT)
    PROCS.append(d)

    def lines():
        return read_ndjson(outp)
    wait_for(lambda: len(of_type(lines(), "enqueued")) == 6 and
             any(o["kind"] == "retry" for o in of_type(lines(), "outcome")), 30,
             "6 transitions enqueued and a failed attempt")
    d.send_signal(signal.SIGKILL)
    d.wait(10)
    out.close()
    check(d.returncode == -signal.SIGKILL, "the driver was killed with SIGKILL")
    check(not [o for o in of_type(lines(), "outcome") if o["kind"] == "delivered"],
          "nothing was delivered before the kill")
    smtp, _ = start_sink("smtp", "smtp", "--out", mdir, port=port)
    after, _ = run_driver(db, TEMPLATE, params, [])
    check(of_type(after, "drain")[0]["drained"], "the restarted driver drains the outbox")
    m = mails(mdir)
    ids = {x["msg"]["X-Keysentry-Message-Id"] for x in m}
    check(len(ids) == 6, "all 6 notifications delivered after the restart")
    states = sorted(x["msg"]["Subject"].split(":")[0] for x in m)
    check(states == ["ALARM"] * 3 + ["OK"] * 3, "3 ALARM and 3 OK e-mails")
    # kill -9 while deliveries are in flight: nothing lost, repeats carry the same id
    out = open(outp, "w")
    d = subprocess.Popen(driver_cmd(db, TEMPLATE, params,
                                    ["--fire", "integration-test-alarm", "--count", "40",
                                     "--drain", "0", "--hold", "60000"]),
                         stdout=out, stderr=subprocess.STDOUT)
    PROCS.append(d)
    wait_for(lambda: len([o for o in of_type(lines(), "outcome")
                          if o["kind"] == "delivered"]) >= 3, 30, "some deliveries")
    d.send_signal(signal.SIGKILL)
    d.wait(10)
    out.close()
    enq = len(of_type(lines(), "enqueued"))
    after, _ = run_driver(db, TEMPLATE, params, [])
    check(of_type(after, "drain")[0]["drained"], "drained after the second kill")
    m = mails(mdir)
    ids = {x["msg"]["X-Keysentry-Message-Id"] for x in m}
    check(len(ids) == 6 + enq, "every enqueued notification arrived (%d + %d)" % (6, enq))
    print("info: %d e-mails for %d MessageIds (repeats of an attempt cut by the kill)"
          % (len(m), len(ids)))
    stop(smtp)


def case_exec_file():
    """exec (argv, JSON on stdin, no shell) and file (NDJSON, 0600)."""
    xout = os.path.join(TMP, "exec.ndjson")
    fpath = os.path.join(TMP, "notes.ndjson")
    params = [("ExecScript", os.path.join(HERE, "exec_sink.py")), ("ExecOut", xout),
              ("FilePath", fpath)]
    lines, _ = run_driver(os.path.join(TMP, "db.sqlite"), TEMPLATE, params,
                          ["--fire", "integration-test-alarm", "--count", "2"])
    with open(xout) as f:
        ex = [json.loads(l) for l in f]
    check(len(ex) == 2, "the command ran once per notification")
    for x in ex:
        env = json.loads(x["stdin"])
        check(env["Type"] == "Notification" and json.loads(env["Message"])["AlarmName"] ==
              "integration-test-alarm", "stdin is the notification JSON")
        check(x["env"]["KEYSENTRY_MESSAGE_ID"] == env["MessageId"], "KEYSENTRY_MESSAGE_ID")
        check(x["argv"][1] == xout, "argv passed as given")
        check(not x["shell_vars"], "no shell in between")
    with open(fpath) as f:
        fl = [json.loads(l) for l in f]
    check(len(fl) == 2 and all(l["Type"] == "Notification" and "Signature" in l for l in fl),
          "file: one signed notification per line")
    check(stat.S_IMODE(os.stat(fpath).st_mode) == 0o600, "file created 0600")
    # a failing command: permanent unless it exits 75
    bad = os.path.join(TMP, "fail.py")
    with open(bad, "w") as f:
        f.write("import sys\nsys.stdin.read()\nprint('cannot page anyone')\nsys.exit(3)\n")
    lines, _ = run_driver(os.path.join(TMP, "db2.sqlite"), TEMPLATE,
                          [("ExecScript", bad), ("ExecOut", "x")],
                          ["--fire", "integration-test-alarm"])
    dead = [o for o in of_type(lines, "outcome") if o["kind"] == "dead"]
    check(len(dead) == 1 and "exited with status 3" in dead[0]["error"] and
          "cannot page anyone" in dead[0]["error"], "exit 3: dead, with the command's output")
    slow = os.path.join(TMP, "slow.py")
    with open(slow, "w") as f:
        f.write("import time\ntime.sleep(60)\n")
    tpl = os.path.join(TMP, "slow.yaml")
    with open(TEMPLATE) as f:
        t = f.read().replace("TimeoutSeconds: 10", "TimeoutSeconds: 0.5")
    with open(tpl, "w") as f:
        f.write(t)
    t0 = time.monotonic()
    lines, _ = run_driver(os.path.join(TMP, "db3.sqlite"), tpl,
                          [("ExecScript", slow), ("ExecOut", "x"), ("MaxAttempts", "2")],
                          ["--fire", "integration-test-alarm"])
    dead = [o for o in of_type(lines, "outcome") if o["kind"] == "dead"]
    check(len(dead) == 1 and "timed out" in dead[0]["error"], "a hung command is killed")
    check(time.monotonic() - t0 < 20, "within its timeout")


def case_slack():
    """slack: incoming-webhook blocks to a URL taken from the environment."""
    log = os.path.join(TMP, "http.log")
    http, hport = start_sink("http", "http", "--out", log)
    secret_url = "http://127.0.0.1:%d/services/T000/B000/s3cr3tt0k3n" % hport
    lines, r = run_driver(os.path.join(TMP, "db.sqlite"), TEMPLATE,
                          [("SlackUrlEnv", "KS_TEST_SLACK_URL")],
                          ["--fire", "integration-test-alarm"],
                          env={"KS_TEST_SLACK_URL": secret_url})
    recs = http_log(log)
    check(len(recs) == 1 and recs[0]["path"] == "/services/T000/B000/s3cr3tt0k3n",
          "posted to the webhook")
    b = json.loads(recs[0]["body"])
    check(b["text"] == 'ALARM: "integration-test-alarm" in US East (N. Virginia)', "text")
    kinds = [x["type"] for x in b["blocks"]]
    check(kinds[0] == "header" and kinds[-1] == "context", "header ... context blocks")
    allt = json.dumps(b)
    check("App-ECSTaskRole" in allt and "AccessDeniedException" in allt,
          "the context (principal, error code) is in the blocks")
    check(recs[0]["headers"]["content-type"].startswith("application/json"), "JSON body")
    blob = b""
    for f in os.listdir(TMP):
        if f.startswith("db.sqlite"):
            with open(os.path.join(TMP, f), "rb") as fh:
                blob += fh.read()
    check(b"s3cr3tt0k3n" not in blob, "the webhook URL is not stored")
    check("s3cr3tt0k3n" not in r.stdout + r.stderr, "nor printed")
    stop(http)


def case_digest():
    """Rate limit: the first alert goes at once, the rest of the window in one
    digest (file and e-mail)."""
    smtp, port = start_sink("smtp", "smtp", "--out", os.path.join(TMP, "mail"))
    fpath = os.path.join(TMP, "notes.ndjson")
    params = [("FilePath", fpath), ("Email", "ops@example.org"),
              ("SmtpUrl", "smtp://127.0.0.1:%d" % port), ("DigestWindow", "2")]
    t0 = time.monotonic()
    lines, _ = run_driver(os.path.join(TMP, "db.sqlite"), TEMPLATE, params,
                          ["--fire", "integration-test-alarm", "--count", "5", "--hold", "3500"])
    with open(fpath) as f:
        fl = [json.loads(l) for l in f]
    check(len(fl) == 2, "file: 2 messages for 5 transitions")
    check(json.loads(fl[0]["Message"])["NewStateValue"] == "ALARM", "the first went alone")
    dg = json.loads(fl[1]["Message"])["keysentryDigest"]
    check(dg["count"] == 4 and len({m["MessageId"] for m in dg["messages"]}) == 4,
          "the digest carries the other 4")
    check(fl[1]["Subject"] == "DIGEST: 4 alarm notifications from integration-alerts",
          "digest subject")
    m = mails(os.path.join(TMP, "mail"))
    check(len(m) == 2 and m[1]["msg"]["Subject"].startswith("DIGEST: 4"), "e-mail: 2 messages")
    body = body_of(m[1])
    check(body.count("You are receiving this email because") == 4, "each alarm text inside")
    outs = of_type(lines, "outcome")
    check(len([o for o in outs if o["digest"]]) == 8, "each digested message has its outcome")
    check(time.monotonic() - t0 >= 2.0, "the digest waited for the window")
    stop(smtp)


def case_actions():
    """A registered action shares the outbox and the retries; an unknown ARN
    is dead-lettered."""
    log = os.path.join(TMP, "action.ndjson")
    arn = "arn:aws:keysentry:us-east-1:111122223333:response/disable-key"
    lines, _ = run_driver(os.path.join(TMP, "db.sqlite"), TEMPLATE, [("ActionArn", arn)],
                          ["--action", arn, "--action-log", log, "--action-fail", "2", "--fire",
                           "integration-test-alarm", "--count", "2"])
    with open(log) as f:
        calls = [json.loads(l) for l in f]
    check(len(calls) == 1, "the action ran once (ALARM only)")
    check(calls[0]["attempt"] == 3, "after two retryable failures")
    check(calls[0]["matchingEvents"] == 3 and calls[0]["recent"] == 3,
          "with the context block rebuilt")
    doc = json.loads(calls[0]["message"])
    check(doc["NewStateValue"] == "ALARM", "and the alarm JSON")
    ao = [o for o in of_type(lines, "outcome") if o["protocol"] == "action"]
    check([o["kind"] for o in ao] == ["retry", "retry", "delivered"], "outcomes per attempt")
    lines, _ = run_driver(os.path.join(TMP, "db2.sqlite"), TEMPLATE,
                          [("ActionArn", "arn:aws:keysentry:us-east-1:111122223333:response/nope")],
                          ["--fire", "integration-test-alarm"])
    enq = of_type(lines, "enqueued")[0]
    dead = [o for o in of_type(lines, "outcome") if o["kind"] == "dead"]
    check(enq["unknown"] == 1 and len(dead) == 1 and "registered action" in dead[0]["error"],
          "unknown action ARN: dead-lettered with the reason")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    global A, TMP
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--case", required=True, choices=sorted(CASES))
    A = p.parse_args()
    TMP = tempfile.mkdtemp(prefix="ks-notify-%s-" % A.case)
    try:
        CASES[A.case]()
        print("PASS", A.case)
        return 0
    except Fail as e:
        print("FAIL:", e)
        return 1
    finally:
        for pr in PROCS:
            if pr.poll() is None:
                pr.kill()
                pr.wait(10)
        if not os.environ.get("KS_KEEP_TMP"):
            shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
