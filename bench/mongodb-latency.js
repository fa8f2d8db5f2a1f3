#!/usr/bin/env node
// MongoDB round-trip latency client for bench/mongodb.sh (driver: the cached `mongodb` package of
// tests/testbed/mongodb.sh, found through NODE_PATH).
//
//   node mongodb-latency.js URL [--iterations N] [--warmup W] [--timeout MS] [--samples FILE]
//
// One MongoClient with a single pooled connection (maxPoolSize 1). Each measured iteration is an
// insertOne followed by a findOne of the inserted _id (checked), timed with
// process.hrtime.bigint(). The first W iterations are run but not measured. Prints one JSON line:
//   {"p50_us":…, "p99_us":…, "n":N, "mean_us":…, "min_us":…, "max_us":…, "connect_ms":…}
// Percentiles are nearest-rank. --timeout sets serverSelectionTimeoutMS / connectTimeoutMS /
// socketTimeoutMS (default 10000); `--iterations 1 --warmup 0 --timeout 2000` is the bench's
// "does a query get through now?" probe. --samples FILE also writes every measured round trip (µs,
// one per line), so that several runs can be pooled. Exit 0 on success; on any error "ERROR: …" on stderr and
// exit 1 (2 for a usage error). A watchdog ends the process whatever happens.
'use strict';

const fs = require('node:fs');
const { MongoClient } = require('mongodb');
const { runMain } = require('../tests/testbed/mongodb-client/exit.js');

function usage(msg) {
  if (msg) console.error(`mongodb-latency: ${msg}`);
  console.error('usage: node mongodb-latency.js mongodb://HOST:PORT/ [--iterations N] [--warmup W] [--timeout MS] [--samples FILE]');
  process.exit(2);
}

const opts = { iterations: 500, warmup: 50, timeout: 10_000, samples: null };
let url = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--iterations' || a === '--warmup' || a === '--timeout') {
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < 0) usage(`${a} needs a non-negative integer`);
    opts[a.slice(2)] = v;
  } else if (a === '--samples') {
    opts.samples = argv[++i];
    if (!opts.samples) usage('--samples needs a file name');
  } else if (!url && /^mongodb(\+srv)?:\/\//.test(a)) {
    url = a;
  } else {
    usage(`unexpected argument ${a}`);
  }
}
if (!url) usage('missing URL');
if (opts.iterations < 1) usage('--iterations must be at least 1');

const watchdogMs = 3 * opts.timeout + 2 * (opts.iterations + opts.warmup) * opts.timeout;
const watchdog = setTimeout(() => {
  console.error(`ERROR: no result after ${watchdogMs} ms, giving up (${url})`);
  process.exit(1);
}, Math.min(watchdogMs, 600_000));
watchdog.unref();

function percentile(sorted, p) {
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

async function main() {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: opts.timeout,
    connectTimeoutMS: opts.timeout,
    socketTimeoutMS: opts.timeout,
    maxPoolSize: 1,
    directConnection: true,
    appName: 'airlock-bench',
  });
  try {
    const c0 = process.hrtime.bigint();
    await client.connect();
    const connectMs = Number(process.hrtime.bigint() - c0) / 1e6;
    const coll = client.db(process.env.MONGODB_DB || 'airlock_bench').collection('latency');
    const run = `${process.pid}-${Date.now()}`;
    const samples = [];
    for (let i = 0; i < opts.warmup + opts.iterations; i++) {
      const t0 = process.hrtime.bigint();
      const ins = await coll.insertOne({ run, i, owner: 'Alice', balance: 1200.5, currency: 'EUR' });
      const doc = await coll.findOne({ _id: ins.insertedId });
      const t1 = process.hrtime.bigint();
      if (!doc || doc.run !== run || doc.i !== i) {
        throw new Error(`iteration ${i}: findOne returned ${JSON.stringify(doc)}`);
      }
      if (i >= opts.warmup) samples.push(Number(t1 - t0) / 1000);
    }
    if (opts.samples) fs.writeFileSync(opts.samples, samples.map((x) => x.toFixed(1)).join('\n') + '\n');
    samples.sort((a, b) => a - b);
    const sum = samples.reduce((s, x) => s + x, 0);
    const r = (x) => Math.round(x * 10) / 10;
    console.log(JSON.stringify({
      p50_us: r(percentile(samples, 0.5)),
      p99_us: r(percentile(samples, 0.99)),
      n: samples.length,
      mean_us: r(sum / samples.length),
      min_us: r(samples[0]),
      max_us: r(samples[samples.length - 1]),
      warmup: opts.warmup,
      connect_ms: r(connectMs),
    }));
  } finally {
    await client.close().catch(() => {});
  }
}

runMain(main, url);
