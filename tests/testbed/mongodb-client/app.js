#!/usr/bin/env node
// Demo MongoDB client for the Airlock test bed, modelled on a typical "hello MongoDB" app:
// connect, insert three documents into a collection, read them back with find, print them.
//
//   node app.js mongodb://HOST:PORT/        (or MONGODB_URL=mongodb://HOST:PORT/ node app.js)
//
// Prints each document, then a last line "OK 3"; exits 0. On any error, or when no server is
// selected within 10 s, prints "ERROR: ..." to stderr and exits 1 (2 for a usage error).
// Optional env: MONGODB_DB (default airlock_testbed), MONGODB_COLLECTION (default accounts).
'use strict';

const crypto = require('node:crypto');
const { MongoClient } = require('mongodb');
const { runMain } = require('./exit.js');

const TIMEOUT_MS = 10_000;
const url = process.argv[2] || process.env.MONGODB_URL;
if (!url || !/^mongodb(\+srv)?:\/\//.test(url)) {
  console.error('usage: node app.js mongodb://HOST:PORT/   (or set MONGODB_URL)');
  process.exit(2);
}

// Whatever happens (a server that accepts but never answers, ...), the app ends.
const watchdog = setTimeout(() => {
  console.error(`ERROR: no result after ${(3 * TIMEOUT_MS) / 1000} s, giving up (${url})`);
  process.exit(1);
}, 3 * TIMEOUT_MS);
watchdog.unref();

async function main() {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: TIMEOUT_MS,
    connectTimeoutMS: TIMEOUT_MS,
    socketTimeoutMS: TIMEOUT_MS,
    appName: 'airlock-testbed',
  });
  try {
    await client.connect();
    const collection = client
      .db(process.env.MONGODB_DB || 'airlock_testbed')
      .collection(process.env.MONGODB_COLLECTION || 'accounts');

    // A run tag keeps repeated runs against the same database independent.
    const run = crypto.randomUUID();
    const docs = [
      { run, n: 1, owner: 'Alice', balance: 1200.5, currency: 'EUR' },
      { run, n: 2, owner: 'Bob', balance: 310.0, currency: 'EUR' },
      { run, n: 3, owner: 'Carol', balance: 98765.43, currency: 'CHF' },
    ];
    const inserted = await collection.insertMany(docs);
    if (inserted.insertedCount !== docs.length) {
      throw new Error(`inserted ${inserted.insertedCount} documents, expected ${docs.length}`);
    }

    const found = await collection.find({ run }).sort({ n: 1 }).toArray();
    for (const doc of found) {
      console.log(JSON.stringify({ ...doc, _id: String(doc._id) }));
    }
    const same = found.length === docs.length &&
      found.every((d, i) => d.owner === docs[i].owner && d.balance === docs[i].balance);
    if (!same) {
      throw new Error(`read back ${found.length} documents that differ from the ${docs.length} inserted`);
    }
    console.log(`OK ${found.length}`);
  } finally {
    await client.close().catch(() => {});
  }
}

runMain(main, url);
