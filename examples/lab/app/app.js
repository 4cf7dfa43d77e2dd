// SPDX-License-Identifier: Apache-2.0
//
// The lab's workload: a small encrypt/decrypt web service whose failed
// decrypts are what the lab's metric filter and alarm detect. It calls KMS
// through the official AWS SDK for JavaScript v3 (@aws-sdk/client-kms),
// pointed at `keysentry kms serve` (or at real KMS: nothing here is specific
// to keysentry), and keeps ciphertexts in SQLite (sql.js, SQLite compiled to
// WebAssembly: no native build step).
//
//   POST /encrypt {"Name":"alice","Text":"secret"}
//        -> KMS Encrypt with the key in $KeyId, ciphertext stored under Name
//        <- {"Message":"Data encrypted and stored, keep your key save","Key":"<KeyId>"}
//   POST /decrypt {"Name":"alice","Key":"<key id>"}   (GET with a body works too)
//        -> KMS Decrypt of the stored ciphertext with KeyId = Key
//        <- {"Text":"secret"}, or on any KMS error, HTTP 400
//           {"Message":"Data decryption failed, make sure you have the correct key"}
//   GET /health <- {"status":"ok"}
//
// Environment: KeyId (required: the KMS key id, ARN or alias), KMS_ENDPOINT
// (e.g. http://127.0.0.1:4599; unset = real KMS), AWS_REGION, the SDK's usual
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
// PORT (default 8080), HOST (default 127.0.0.1), DB_FILE (default
// ./lab-app.sqlite). Plaintexts are never logged.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const initSqlJs = require('sql.js');
const { KMSClient, EncryptCommand, DecryptCommand } = require('@aws-sdk/client-kms');

const KEY_ID = process.env.KeyId || process.env.KEY_ID;
const PORT = Number(process.env.PORT || 8080);
const HOST = process.env.HOST || '127.0.0.1';
const DB_FILE = path.resolve(process.env.DB_FILE || 'lab-app.sqlite');
const MAX_BODY = 64 * 1024;

const ENCRYPTED_MESSAGE = 'Data encrypted and stored, keep your key save';
const DECRYPT_FAILED = 'Data decryption failed, make sure you have the correct key';

if (!KEY_ID) {
  console.error('lab-app: set KeyId to the KMS key to encrypt with');
  process.exit(2);
}

const kms = new KMSClient({
  region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
  ...(process.env.KMS_ENDPOINT ? { endpoint: process.env.KMS_ENDPOINT } : {}),
});

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        resolve(v);
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

async function main() {
  const SQL = await initSqlJs();
  const db = fs.existsSync(DB_FILE) ? new SQL.Database(fs.readFileSync(DB_FILE)) : new SQL.Database();
  db.run('CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, ciphertext TEXT NOT NULL)');

  // The whole database is rewritten after each change (temp file + rename):
  // fine for a lab, and a crash never leaves a torn file.
  function persist() {
    const tmp = DB_FILE + '.tmp';
    fs.writeFileSync(tmp, Buffer.from(db.export()));
    fs.renameSync(tmp, DB_FILE);
  }

  async function encrypt(req, res) {
    const { Name, Text } = await readJson(req);
    if (typeof Name !== 'string' || !Name || typeof Text !== 'string' || !Text) {
      return reply(res, 400, { Message: 'Name and Text are required' });
    }
    const out = await kms.send(new EncryptCommand({ KeyId: KEY_ID, Plaintext: Buffer.from(Text, 'utf8') }));
    db.run('INSERT OR REPLACE INTO secrets (name, ciphertext) VALUES (?, ?)', [
      Name,
      Buffer.from(out.CiphertextBlob).toString('base64'),
    ]);
    persist();
    return reply(res, 200, { Message: ENCRYPTED_MESSAGE, Key: KEY_ID });
  }

  async function decrypt(req, res) {
    const { Name, Key } = await readJson(req);
    if (typeof Name !== 'string' || !Name || typeof Key !== 'string' || !Key) {
      return reply(res, 400, { Message: 'Name and Key are required' });
    }
    const stmt = db.prepare('SELECT ciphertext FROM secrets WHERE name = ?');
    stmt.bind([Name]);
    const row = stmt.step() ? stmt.getAsObject() : null;
    stmt.free();
    if (!row) return reply(res, 404, { Message: 'No data stored under that name' });
    try {
      const out = await kms.send(
        new DecryptCommand({ CiphertextBlob: Buffer.from(row.ciphertext, 'base64'), KeyId: Key }),
      );
      return reply(res, 200, { Text: Buffer.from(out.Plaintext).toString('utf8') });
    } catch (e) {
      // The KMS call failed (and is in the trail): the lab's answer.
      console.error(`lab-app: decrypt failed: ${e.name} (request ${e.$metadata && e.$metadata.requestId})`);
      return reply(res, 400, { Message: DECRYPT_FAILED });
    }
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    try {
      if (url.pathname === '/health' && req.method === 'GET') return reply(res, 200, { status: 'ok' });
      if (url.pathname === '/encrypt' && req.method === 'POST') return await encrypt(req, res);
      if (url.pathname === '/decrypt' && (req.method === 'POST' || req.method === 'GET')) {
        return await decrypt(req, res);
      }
      return reply(res, 404, { Message: 'Not found' });
    } catch (e) {
      console.error(`lab-app: ${req.method} ${url.pathname}: ${e.name}: ${e.message}`);
      if (!res.headersSent) reply(res, e instanceof SyntaxError ? 400 : 500, { Message: 'Request failed' });
    }
  });
  server.listen(PORT, HOST, () => {
    const addr = server.address();
    console.error(`lab-app: listening on http://${addr.address}:${addr.port}, key ${KEY_ID}`);
    if (process.env.PORT_FILE) fs.writeFileSync(process.env.PORT_FILE, `${addr.port}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`lab-app: ${e.stack || e}`);
  process.exit(1);
});
