// SPDX-License-Identifier: Apache-2.0
// Counts the events matching one of the benchmark patterns with DuckDB, as the
// peer of `keysentry test-pattern --count`. Used by bench/run.sh.
//   node duckdb-count.js ndjson|s3 lab|kms_encdec PATH
//   node duckdb-count.js --version
// ndjson: PATH is an NDJSON file (one CloudTrail record per line).
// s3:     PATH is a directory of gzipped CloudTrail log files {"Records":[...]}.
// Explicit column types (no sampling/schema inference) and one thread.
'use strict';
const { DuckDBInstance } = require('@duckdb/node-api');

const EVENT_STRUCT =
  'STRUCT(eventSource VARCHAR, eventName VARCHAR, errorCode VARCHAR, ' +
  'userIdentity STRUCT(sessionContext STRUCT(sessionIssuer STRUCT(arn VARCHAR))))';

// $.errorCode = "*": the key is present with a string or number value (VARCHAR
// reads a JSON number as its text and a JSON null as NULL).
const WHERE = {
  lab:
    "e.errorCode IS NOT NULL AND e.eventSource = 'kms.amazonaws.com' AND " +
    "e.userIdentity.sessionContext.sessionIssuer.arn = " +
    "'arn:aws:iam::111122223333:role/App-ECSTaskRole'",
  kms_encdec: "e.eventSource = 'kms.amazonaws.com' AND e.eventName IN ('Decrypt', 'Encrypt')",
};

function sqlString(s) {
  return "'" + s.replace(/'/g, "''") + "'";
}

function query(mode, pattern, path) {
  const where = WHERE[pattern];
  if (!where) throw new Error('unknown pattern ' + pattern);
  if (mode === 'ndjson') {
    return (
      `SELECT count(*) AS n FROM read_json(${sqlString(path)}, format='newline_delimited', ` +
      `columns={eventSource: 'VARCHAR', eventName: 'VARCHAR', errorCode: 'VARCHAR', ` +
      `userIdentity: 'STRUCT(sessionContext STRUCT(sessionIssuer STRUCT(arn VARCHAR)))'}) AS e ` +
      `WHERE ${where}`
    );
  }
  if (mode === 's3') {
    const glob = path.replace(/\/+$/, '') + '/**/*.json.gz';
    return (
      `SELECT count(*) AS n FROM (SELECT unnest(Records) AS e FROM read_json(${sqlString(glob)}, ` +
      `format='unstructured', compression='gzip', maximum_object_size=268435456, ` +
      `columns={Records: '${EVENT_STRUCT}[]'})) WHERE ${where}`
    );
  }
  throw new Error('unknown mode ' + mode);
}

async function main() {
  const [mode, pattern, path] = process.argv.slice(2);
  if (mode === '--version') {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const reader = await conn.runAndReadAll('SELECT version()');
    process.stdout.write(String(reader.getRows()[0][0]) + '\n');
    return;
  }
  if (!mode || !pattern || !path) {
    process.stderr.write('usage: node duckdb-count.js ndjson|s3 lab|kms_encdec PATH\n');
    process.exit(2);
  }
  const sql = query(mode, pattern, path);
  if (process.env.BENCH_VERBOSE) process.stderr.write(sql + '\n');
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  await conn.run('SET threads = 1');
  const reader = await conn.runAndReadAll(sql);
  const rows = reader.getRows();
  process.stdout.write(String(rows[0][0]) + '\n');
  conn.closeSync();
  instance.closeSync();
}

main().catch((err) => {
  process.stderr.write(`duckdb-count: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
