// Shared ending of the test bed's MongoDB clients (app.js, bench/mongodb-latency.js): run `main`,
// exit 0 when it resolves; on an error print "ERROR: name: message [servers] (url)" to stderr —
// with each server's last error when no server could be selected — and exit 1.
'use strict';

function describe(err, url) {
  const name = err && err.name ? err.name : 'Error';
  const reason = err && err.reason && err.reason.servers
    ? ' [' + [...err.reason.servers.values()].map((s) => `${s.address}: ${s.error ? s.error.message : s.type}`).join('; ') + ']'
    : '';
  return `ERROR: ${name}: ${err && err.message ? err.message : err}${reason} (${url})`;
}

function runMain(main, url) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(describe(err, url));
      process.exit(1);
    },
  );
}

module.exports = { runMain, describe };
