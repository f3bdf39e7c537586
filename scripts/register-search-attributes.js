#!/usr/bin/env node
// Registers the search attributes of common/search-attributes.ts (the only list of them) in a
// namespace, through Temporal's operator API: adds the missing ones, refuses one that exists
// with another type. Run by scripts/ensure-temporal.sh after the build (it reads dist/).
// Usage: node scripts/register-search-attributes.js ADDRESS NAMESPACE
// stderr: "registered search attributes: A B" when it added any; one line on failure.
// Exit: 0 done; 2 bad arguments or the build is missing; 3 the server refused or did not answer.
'use strict';
const path = require('node:path');

const [address, namespace] = process.argv.slice(2);
if (!address || !namespace) fail(2, 'usage: node scripts/register-search-attributes.js ADDRESS NAMESPACE');

const compiled = path.join(__dirname, '..', 'dist', 'common', 'search-attributes.js');
let keys;
try {
  ({ SEARCH_ATTRIBUTE_KEYS: keys } = require(compiled));
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND') fail(2, `${compiled} is missing: build first (npx tsc -p tsconfig.json)`);
  throw err;
}
const { Connection } = require('@temporalio/client');
const { temporal } = require('@temporalio/proto');

const { IndexedValueType } = temporal.api.enums.v1;
// The SDK's SearchAttributeType values (KEYWORD, KEYWORD_LIST, ...) are the proto enum's names
// without their prefix.
const wantedType = (key) => IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`];

/** The namespace's custom attributes; retried: a just-created namespace reaches the frontend's cache a little later. */
async function listCustom(connection) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await connection.operatorService.listSearchAttributes({ namespace });
      return res.customAttributes ?? {};
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function main() {
  let connection;
  try {
    connection = await Connection.connect({ address, connectTimeout: '10s' });
  } catch (err) {
    fail(3, `cannot reach the Temporal server at ${address} (${firstLine(err)})`);
  }
  try {
    let existing;
    try {
      existing = await listCustom(connection);
    } catch (err) {
      fail(3, `could not list search attributes of namespace ${namespace} on ${address} (${firstLine(err)})`);
    }
    const missing = {};
    for (const key of keys) {
      const want = wantedType(key);
      if (want === undefined) fail(2, `common/search-attributes.ts: ${key.name} has type ${key.type}, which this server's API does not know`);
      const have = existing[key.name];
      if (have === undefined) missing[key.name] = want;
      else if (have !== want) {
        fail(3, `search attribute ${key.name} exists on ${address} as ${typeName(have)}, not ${typeName(want)}; stop the dev server (scripts/stop-temporal.sh) and delete its database, or rename the attribute`);
      }
    }
    const names = Object.keys(missing);
    if (names.length > 0) {
      try {
        await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
      } catch (err) {
        // The dev server's SQLite store has a fixed number of columns per type (3 Int, 3 Double, 10 Keyword, ...).
        fail(3, `could not register search attributes ${names.join(' ')} on ${address} (${firstLine(err)}); the dev server's SQLite store holds 10 Keyword and 3 of every other type`);
      }
      process.stderr.write(`registered search attributes: ${names.join(' ')}\n`);
    }
    await untilUsable(connection);
  } finally {
    await connection.close();
  }
}

/** A literal of each attribute type, for the probe query. */
const LITERAL = { KEYWORD: "'x'", TEXT: "'x'", KEYWORD_LIST: "'x'", INT: '0', DOUBLE: '0', BOOL: 'true', DATETIME: "'2000-01-01T00:00:00Z'" };

/**
 * Waits until a visibility query naming every attribute is accepted. A server with SQL visibility
 * (the production stack on PostgreSQL) maps an added attribute to a column in the namespace's
 * record, which its frontend learns only at its next namespace-cache refresh (seen: about 10 s);
 * until then starting a tree fails with "no mapping defined for search attribute". The dev server
 * accepts the query at once.
 */
async function untilUsable(connection) {
  const query = keys.map((k) => `${k.name} = ${LITERAL[k.type] ?? "'x'"}`).join(' AND ');
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await connection.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 1 });
      return;
    } catch (err) {
      if (Date.now() >= deadline) fail(3, `the search attributes of namespace ${namespace} on ${address} are registered but not usable after 60 s (${firstLine(err)})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function typeName(code) {
  return String(IndexedValueType[code]).replace(/^INDEXED_VALUE_TYPE_/, '');
}

function firstLine(err) {
  return String((err && err.message) || err).split('\n')[0];
}

function fail(code, message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

main().catch((err) => fail(3, firstLine(err)));
