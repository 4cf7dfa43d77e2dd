#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Loopback receivers for the notify integration tests (stdlib only).

  sinks.py smtp --port-file F --out DIR [--tls CERT KEY] [--starttls CERT KEY]
                [--auth USER:PASS] [--reject-first N]
  sinks.py http --port-file F --out FILE [--fail-first N] [--status CODE]
                [--retry-after S] [--no-confirm] [--pin-prefix URL]

smtp: a minimal RFC 5321 server (EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL,
RCPT, DATA, RSET, NOOP, QUIT). Each accepted message is written to DIR as
<n>.json: {"mail_from", "rcpt_tos", "data", "tls", "auth"}. --tls makes it
implicit TLS (smtps); --reject-first N answers 451 to the first N DATA.

http: records each POST as one JSON line in FILE: {"path", "headers", "body",
"verified", "status"}. It verifies the SNS signature (canonical string of
spec/alarms.md §12.3, RSA with SHA-256 or SHA-1) against the certificate at
SigningCertURL (file:// or http://, fetched once per URL and required to start
with --pin-prefix when given) using the openssl command, with argv, never a
shell. A SubscriptionConfirmation is confirmed by GETting SubscribeURL (unless
--no-confirm). --fail-first N answers --status (default 503) to the first N
notifications, with Retry-After when given.
"""
import argparse
import base64
import json
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


# ---- SMTP -------------------------------------------------------------------

class SMTPHandler(socketserver.StreamRequestHandler):
    timeout = 30

    def reply(self, text):
        self.wfile.write((text + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        cfg = self.server.cfg
        # a real MTA writes each reply in one segment; without this the
        # multi-line EHLO reply meets Nagle and delayed ACKs (40 ms stalls)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tls = cfg.tls is not None
        self.authed = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg.tls[0], cfg.tls[1])
            self.request = ctx.wrap_socket(self.request, server_side=True)
            self.rfile = self.request.makefile("rb")
            self.wfile = self.request.makefile("wb")
        self.reply("220 keysentry-test ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            arg = cmd[len(verb):].strip()
            if verb in ("EHLO", "HELO"):
                lines = ["250-keysentry-test"]
                if cfg.starttls and not self.tls:
                    lines.append("250-STARTTLS")
                if cfg.auth:
                    lines.append("250-AUTH PLAIN LOGIN")
                lines.append("250 8BITMIME")
                self.reply("\r\n".join(lines))
            elif verb == "STARTTLS" and cfg.starttls and not self.tls:
                self.reply("220 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(cfg.starttls[0], cfg.starttls[1])
                self.request = ctx.wrap_socket(self.request, server_side=True)
                self.rfile = self.request.makefile("rb")
                self.wfile = self.request.makefile("wb")
                self.tls = True
                mail_from, rcpts = None, []
            elif verb == "AUTH" and cfg.auth:
                parts = arg.split()
                if parts[0].upper() == "PLAIN":
                    blob = parts[1] if len(parts) > 1 else None
                    if blob is None:
                        self.reply("334 ")
                        blob = self.rfile.readline().decode().strip()
                    _, user, pw = base64.b64decode(blob).decode().split("\0")
                elif parts[0].upper() == "LOGIN":
                    if len(parts) > 1:
                        user = base64.b64decode(parts[1]).decode()
                    else:
                        self.reply("334 VXNlcm5hbWU6")
                        user = base64.b64decode(self.rfile.readline().strip()).decode()
                    self.reply("334 UGFzc3dvcmQ6")
                    pw = base64.b64decode(self.rfile.readline().strip()).decode()
                else:
                    self.reply("504 unsupported")
                    continue
                if "%s:%s" % (user, pw) == cfg.auth:
                    self.authed = user
                    self.reply("235 ok")
                else:
                    self.reply("535 bad credentials")
            elif verb == "MAIL":
                if cfg.auth and not self.authed:
                    self.reply("530 authentication required")
                    continue
                if cfg.starttls and cfg.require_tls and not self.tls:
                    self.reply("530 STARTTLS first")
                    continue
                mail_from = arg.split(":", 1)[1].strip().split()[0].strip("<>")
                rcpts = []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(arg.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with .")
                buf = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    buf.append(l)
                with self.server.lock:
                    self.server.data_count += 1
                    n = self.server.data_count
                if n <= cfg.reject_first:
                    self.reply("451 try again later")
                    continue
                rec = {"mail_from": mail_from, "rcpt_tos": rcpts,
                       "data": b"".join(buf).decode("utf-8", "replace"),
                       "tls": self.tls, "auth": self.authed}
                with self.server.lock:
                    self.server.saved += 1
                    path = os.path.join(cfg.out, "%06d.json" % self.server.saved)
                with open(path + ".tmp", "w") as f:
                    json.dump(rec, f)
                os.replace(path + ".tmp", path)
                self.reply("250 queued")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 ok")
            elif verb == "NOOP":
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def run_smtp(a):
    os.makedirs(a.out, exist_ok=True)
    srv = SMTPServer(("127.0.0.1", a.port), SMTPHandler)
    srv.cfg = a
    srv.lock = threading.Lock()
    srv.data_count = 0
    srv.saved = len([f for f in os.listdir(a.out) if f.endswith(".json")])
    write_port(a.port_file, srv.server_address[1])
    srv.serve_forever()


# ---- HTTP (SNS endpoint) ------------------------------------------------------

NOTE_FIELDS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONF_FIELDS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def canonical(msg):
    fields = NOTE_FIELDS if msg["Type"] == "Notification" else CONF_FIELDS
    out = ""
    for k in fields:
        if k == "Subject" and k not in msg:
            continue
        out += k + "\n" + msg[k] + "\n"
    return out.encode("utf-8")


class Verifier:
    def __init__(self, pin):
        self.pin = pin
        self.keys = {}
        self.dir = tempfile.mkdtemp(prefix="sns-verify-")
        self.lock = threading.Lock()

    def pubkey(self, url):
        with self.lock:
            if url in self.keys:
                return self.keys[url]
            if self.pin and not url.startswith(self.pin):
                raise ValueError("SigningCertURL %s is not pinned to %s" % (url, self.pin))
            with urllib.request.urlopen(url, timeout=10) as r:
                pem = r.read()
            cert = os.path.join(self.dir, "cert%d.pem" % len(self.keys))
            pub = os.path.join(self.dir, "pub%d.pem" % len(self.keys))
            with open(cert, "wb") as f:
                f.write(pem)
            subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout", "-out", pub],
                           check=True, timeout=30)
            self.keys[url] = pub
            return pub

    def verify(self, msg):
        pub = self.pubkey(msg["SigningCertURL"])
        alg = "-sha256" if msg.get("SignatureVersion") == "2" else "-sha1"
        with tempfile.NamedTemporaryFile(dir=self.dir, delete=False) as d, \
                tempfile.NamedTemporaryFile(dir=self.dir, delete=False) as s:
            d.write(canonical(msg))
            s.write(base64.b64decode(msg["Signature"]))
        try:
            r = subprocess.run(["openssl", "dgst", alg, "-verify", pub, "-signature", s.name,
                                d.name], capture_output=True, timeout=30)
            return r.returncode == 0
        finally:
            os.unlink(d.name)
            os.unlink(s.name)


class HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        cfg = self.server.cfg
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8")
        rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body, "verified": None, "status": 200}
        mtype = self.headers.get("x-amz-sns-message-type")
        try:
            msg = json.loads(body)
        except ValueError:
            msg = None
        if mtype and isinstance(msg, dict) and "Signature" in msg:
            try:
                rec["verified"] = self.server.verifier.verify(msg)
            except Exception as e:  # recorded, the test asserts on it
                rec["verified"] = False
                rec["verify_error"] = str(e)
        status = 200
        if mtype == "Notification" or (mtype is None and cfg.fail_slack):
            with self.server.lock:
                self.server.notes += 1
                if self.server.notes <= cfg.fail_first:
                    status = cfg.status
        rec["status"] = status
        if mtype == "SubscriptionConfirmation" and not cfg.no_confirm and rec["verified"]:
            try:
                with urllib.request.urlopen(msg["SubscribeURL"], timeout=10) as r:
                    rec["confirm_status"] = r.status
                    rec["confirm_body"] = r.read().decode()
            except Exception as e:
                rec["confirm_error"] = str(e)
        with self.server.lock:
            with open(cfg.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
        self.send_response(status)
        if status != 200 and cfg.retry_after is not None:
            self.send_header("Retry-After", str(cfg.retry_after))
        self.send_header("Content-Length", "0")
        self.end_headers()


def run_http(a):
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), HTTPHandler)
    srv.daemon_threads = True
    srv.cfg = a
    srv.lock = threading.Lock()
    srv.notes = 0
    srv.verifier = Verifier(a.pin_prefix)
    write_port(a.port_file, srv.server_address[1])
    srv.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smtp")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--port-file", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--tls", nargs=2)
    s.add_argument("--starttls", nargs=2)
    s.add_argument("--require-tls", action="store_true")
    s.add_argument("--auth")
    s.add_argument("--reject-first", type=int, default=0)
    h = sub.add_parser("http")
    h.add_argument("--port", type=int, default=0)
    h.add_argument("--port-file", required=True)
    h.add_argument("--out", required=True)
    h.add_argument("--fail-first", type=int, default=0)
    h.add_argument("--fail-slack", action="store_true")
    h.add_argument("--status", type=int, default=503)
    h.add_argument("--retry-after", type=int)
    h.add_argument("--no-confirm", action="store_true")
    h.add_argument("--pin-prefix")
    a = p.parse_args()
    try:
        run_smtp(a) if a.cmd == "smtp" else run_http(a)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
