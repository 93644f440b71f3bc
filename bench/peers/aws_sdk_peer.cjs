// A peer for bench/peers.py: @aws-sdk/cloudfront-signer's getSignedUrl as documented,
// i.e. with the PEM string passed (and so parsed) on every call. Signs distinct
// canned-policy URLs for WARMUP then SECONDS seconds and prints one JSON line:
// count, elapsed (timed part), first/last URL, versions.
//
//   node aws_sdk_peer.cjs NODE_MODULES PEM_FILE KEY_PAIR_ID EXPIRES SECONDS WARMUP
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [modules, pemFile, keyPairId, expires, seconds, warmup] = process.argv.slice(2);
const sdkDir = path.join(modules, "@aws-sdk", "cloudfront-signer");
const { getSignedUrl } = require(sdkDir);
const privateKey = fs.readFileSync(pemFile, "utf8");
const dateLessThan = new Date(Number(expires) * 1000).toISOString();

// Signs URLs numbered from start for secs seconds.
function run(start, secs) {
  let i = start, first = null, last = null;
  const t0 = performance.now();
  while (performance.now() - t0 < secs * 1000) {
    const url = `https://d111111abcdef8.cloudfront.net/bench/${i}.pdf`;
    last = getSignedUrl({ url, keyPairId, privateKey, dateLessThan });
    if (first === null) first = last;
    i += 1;
  }
  return { next: i, count: i - start, elapsed: (performance.now() - t0) / 1000, first, last };
}

const { next } = run(0, Number(warmup));
const r = run(next, Number(seconds));
const version = {
  "@aws-sdk/cloudfront-signer": require(path.join(sdkDir, "package.json")).version,
  node: process.versions.node,
  openssl: process.versions.openssl,
};
console.log(JSON.stringify({ count: r.count, elapsed: r.elapsed, first_url: r.first, last_url: r.last, version }));
